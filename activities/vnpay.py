"""VNPAY, a real payment gateway: its protocol (version 2.1.0) and our adapter.

Followed: VNPAY's merchant documentation (sandbox.vnpayment.vn/apis/docs/thanh-toan-pay/pay.html
for the pay URL, the IPN and its RspCode answers; .../truy-van-hoan-tien/querydr&refund.html for
querydr), signed as its PHP samples sign: HMAC-SHA512 with the merchant's hash secret over the
vnp_* fields sorted by name and URL-encoded (urlencode: spaces as "+"), or, for querydr, over the
fields joined by "|" in the documented order.

A payment URL expires and its TxnRef may never be used again, so the pay link the applicant
holds is ours (`api/routes/vnpay.py`): each visit after the last attempt lapsed, failed or was
paid wrongly opens a new attempt (TxnRef = dossier code + attempt number) and goes on to its
signed URL. The confirmation is VNPAY's server-to-server IPN, or, when none comes, the answer
to querydr (`activities/payment_settlement.py`); the applicant's return is never one.
"""

import hashlib
import hmac
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from activities.payment_gateway import GatewayPayment
from domain.calendar import VN_TZ
from motcua.settings import Settings

VERSION = "2.1.0"
SUCCESS = "00"
# querydr's vnp_TransactionStatus for a transaction not completed yet.
NOT_COMPLETED = "01"
# querydr's vnp_ResponseCode for a TxnRef VNPAY never saw (the applicant never got there).
NOT_FOUND = "91"
_TIME_FORMAT = "%Y%m%d%H%M%S"  # yyyyMMddHHmmss, in Vietnam's time (GMT+7)
# The query's request fields, and its answer's, in the order they are signed.
_QUERY_SIGNED = (
    "vnp_RequestId",
    "vnp_Version",
    "vnp_Command",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_TransactionDate",
    "vnp_CreateDate",
    "vnp_IpAddr",
    "vnp_OrderInfo",
)
_ANSWER_SIGNED = (
    "vnp_ResponseId",
    "vnp_Command",
    "vnp_ResponseCode",
    "vnp_Message",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_BankCode",
    "vnp_PayDate",
    "vnp_TransactionNo",
    "vnp_TransactionType",
    "vnp_TransactionStatus",
    "vnp_OrderInfo",
    "vnp_PromotionCode",
    "vnp_PromotionAmount",
)


@dataclass(frozen=True)
class VnpayAccount:
    """The agency's merchant account (README, "Payments")."""

    tmn_code: str
    hash_secret: str
    payment_url: str
    api_url: str

    @classmethod
    def of(cls, settings: Settings) -> "VnpayAccount":
        settings.refuse_unusable_gateway()
        assert settings.vnpay_tmn_code and settings.vnpay_hash_secret
        assert settings.vnpay_payment_url and settings.vnpay_api_url
        return cls(
            settings.vnpay_tmn_code,
            settings.vnpay_hash_secret.get_secret_value(),
            settings.vnpay_payment_url,
            settings.vnpay_api_url,
        )


def sign(secret: str, data: str) -> str:
    return hmac.new(secret.encode(), data.encode(), hashlib.sha512).hexdigest()


def hash_data(params: Mapping[str, str]) -> str:
    """What a pay URL, an IPN and a return are signed over: their vnp_* fields but the hash's
    own (vnp_SecureHashType is not signed either), sorted by name, URL-encoded."""
    signed = [
        (name, value)
        for name, value in params.items()
        if name.startswith("vnp_") and name not in ("vnp_SecureHash", "vnp_SecureHashType")
    ]
    return urlencode(sorted(signed))


def signed_query(secret: str, params: Mapping[str, str]) -> str:
    data = hash_data(params)
    return f"{data}&vnp_SecureHash={sign(secret, data)}"


def verify(secret: str, params: Mapping[str, str]) -> bool:
    given = params.get("vnp_SecureHash", "").lower()
    return hmac.compare_digest(given.encode(), sign(secret, hash_data(params)).encode())


def vnp_time(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).strftime(_TIME_FORMAT)


def parse_vnp_time(text: str) -> datetime:
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=VN_TZ)


def order_info(dossier_code: str) -> str:
    # Vietnamese without diacritics, as VNPAY asks of vnp_OrderInfo.
    return f"Nop phi le phi ho so {dossier_code}"


@dataclass(frozen=True)
class PayAttempt:
    """What one attempt's pay URL is built from (a `payment_attempts` row)."""

    txn_ref: str
    dossier_code: str
    amount_vnd: int
    client_ip: str
    create_date: str
    expire_date: str


def pay_url(account: VnpayAccount, attempt: PayAttempt, return_url: str) -> str:
    params = {
        "vnp_Version": VERSION,
        "vnp_Command": "pay",
        "vnp_TmnCode": account.tmn_code,
        "vnp_Amount": str(attempt.amount_vnd * 100),  # in hundredths of a đồng
        "vnp_CurrCode": "VND",
        "vnp_TxnRef": attempt.txn_ref,
        "vnp_OrderInfo": order_info(attempt.dossier_code),
        "vnp_OrderType": "other",
        "vnp_Locale": "vn",
        "vnp_ReturnUrl": return_url,
        "vnp_IpAddr": attempt.client_ip,
        "vnp_CreateDate": attempt.create_date,
        "vnp_ExpireDate": attempt.expire_date,
    }
    return f"{account.payment_url}?{signed_query(account.hash_secret, params)}"


@dataclass(frozen=True)
class GatewayOutcome:
    """What VNPAY says became of an attempt, by IPN or querydr."""

    txn_ref: str
    amount_vnd: int
    succeeded: bool  # money taken
    completed: bool  # False: the applicant may still be paying
    code: str  # vnp_ResponseCode (IPN) or vnp_TransactionStatus (querydr), for the record
    transaction_no: str | None
    paid_at: datetime | None


def _amount(params: Mapping[str, Any]) -> int:
    hundredths = int(str(params["vnp_Amount"]))
    if hundredths < 0:
        raise ValueError("negative amount")
    return hundredths // 100


def ipn_outcome(params: Mapping[str, str]) -> GatewayOutcome:
    """The outcome an IPN (or a return) tells; ValueError if a field is missing or malformed."""
    try:
        response, status = params["vnp_ResponseCode"], params["vnp_TransactionStatus"]
        pay_date = params.get("vnp_PayDate")
        return GatewayOutcome(
            txn_ref=params["vnp_TxnRef"],
            amount_vnd=_amount(params),
            succeeded=response == SUCCESS and status == SUCCESS,
            completed=True,
            code=response,
            transaction_no=params.get("vnp_TransactionNo"),
            paid_at=parse_vnp_time(pay_date) if pay_date else None,
        )
    except KeyError as missing:
        raise ValueError(f"missing {missing}") from None


def _server_ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


class VnpayQuery:
    """querydr: what became of an attempt no IPN told us about."""

    def __init__(self, account: VnpayAccount, http: httpx.AsyncClient) -> None:
        self._account = account
        self._http = http

    async def outcome(self, attempt: PayAttempt, now: datetime) -> GatewayOutcome | None:
        """VNPAY's answer; None if it never saw the attempt. Raises on anything it cannot
        trust (a bad signature, an error code): the caller asks again later."""
        account = self._account
        request = {
            "vnp_RequestId": uuid.uuid4().hex,  # unique per query, as VNPAY asks
            "vnp_Version": VERSION,
            "vnp_Command": "querydr",
            "vnp_TmnCode": account.tmn_code,
            "vnp_TxnRef": attempt.txn_ref,
            "vnp_TransactionDate": attempt.create_date,
            "vnp_CreateDate": vnp_time(now),
            "vnp_IpAddr": _server_ip(),
            "vnp_OrderInfo": order_info(attempt.dossier_code),
        }
        data = "|".join(request[name] for name in _QUERY_SIGNED)
        request["vnp_SecureHash"] = sign(account.hash_secret, data)
        response = await self._http.post(account.api_url, json=request)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        signed = "|".join(str(answer.get(name, "")) for name in _ANSWER_SIGNED)
        given = str(answer.get("vnp_SecureHash", "")).lower()
        if not hmac.compare_digest(given.encode(), sign(account.hash_secret, signed).encode()):
            raise RuntimeError(f"querydr answer for {attempt.txn_ref}: bad signature")
        code = str(answer.get("vnp_ResponseCode"))
        if code == NOT_FOUND:
            return None
        if code != SUCCESS or answer.get("vnp_TxnRef") != attempt.txn_ref:
            raise RuntimeError(f"querydr for {attempt.txn_ref} answered {code}")
        status = str(answer["vnp_TransactionStatus"])
        pay_date = answer.get("vnp_PayDate")
        return GatewayOutcome(
            txn_ref=attempt.txn_ref,
            amount_vnd=_amount(answer),
            succeeded=status == SUCCESS,
            completed=status != NOT_COMPLETED,
            code=status,
            transaction_no=str(answer.get("vnp_TransactionNo") or "") or None,
            paid_at=parse_vnp_time(str(pay_date)) if pay_date else None,
        )


class VnpayGateway:
    """The PaymentGateway of the worker's `request_payment`: no call to VNPAY yet, only our pay
    link, which opens an attempt when the applicant follows it."""

    PREFIX = "VNPAY-"

    def __init__(self, public_base_url: str) -> None:
        self._base_url = public_base_url.rstrip("/")

    async def create_payment(self, merchant_ref: str, amount_vnd: int) -> GatewayPayment:
        link = f"{self._base_url}/api/v1/payments/{quote(merchant_ref, safe='')}/pay"
        return GatewayPayment(f"{self.PREFIX}{merchant_ref}", link)
