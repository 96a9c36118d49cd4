"""A QR code as inline SVG, drawn on the server: no image request, no script, no inline style
(the CSP forbids them), crisp on screen and on paper."""

from markupsafe import Markup, escape

from domain.documents import qr_matrix


def qr_svg(data: str, title: str, element_id: str = "qr") -> Markup:
    """`data` as a QR code, one SVG path of its dark modules (runs of a row drawn as one
    rectangle), titled for screen readers."""
    matrix = qr_matrix(data)  # the documents' QR code, with its quiet zone
    size = len(matrix)
    path = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if not row[x]:
                x += 1
                continue
            run = 1
            while x + run < size and row[x + run]:
                run += 1
            path.append(f"M{x} {y}h{run}v1h-{run}z")
            x += run
    title_id = f"{element_id}-title"
    return Markup(
        f'<svg class="qr" id="{escape(element_id)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {size} {size}" role="img" aria-labelledby="{escape(title_id)}" '
        f'shape-rendering="crispEdges"><title id="{escape(title_id)}">{escape(title)}</title>'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path d="{"".join(path)}" fill="#000"/></svg>'
    )
