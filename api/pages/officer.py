"""Who the back office's official is, as its header shows them: their name, and only the pages
they may open (the counter for an agency's one-stop desk, the figures for leaders and
operators), by the same rules the pages themselves apply."""

from dataclasses import dataclass

from fastapi import Depends, Request

from api import statistics
from api.access import desk_agency
from api.deps import ContextDep, SessionDep
from api.pages.guard import session_official
from store.officials import full_names


@dataclass(frozen=True)
class Nav:
    """What the header offers: the official's name and the pages open to them."""

    name: str
    counter: bool
    dashboard: bool


# Where the layout finds the header's offer (the pages of other modules render the same
# layout, so it travels with the request rather than in each page's context).
STATE = "officer_nav"


async def keep_nav(request: Request, ctx: ContextDep, session: SessionDep) -> None:
    """The header's offer for the logged-in official, kept on the request for the layout."""
    official = await session_official(request)
    if official is None:
        return
    names = await full_names(session, [official.username])
    nav = Nav(
        name=names.get(official.username, official.username),
        counter=desk_agency(ctx.catalog, official) is not None,
        dashboard=statistics.may_see(official),
    )
    setattr(request.state, STATE, nav)


# On every back-office router: the header then offers what each page would let in.
NavDep = Depends(keep_nav)
