"""A local VNPAY for the tests: an HTTP server speaking its protocol, with its own book.

Its pay page refuses a URL whose signature is not the merchant's, else charges the applicant
(once per TxnRef, as VNPAY refuses a TxnRef it has seen), sends the signed IPN to the merchant's
registered IPN URL (once, twice, or never, as a test asks; with the amount it took, which a
test can make wrong) and sends the browser back to the return URL. Its querydr answers from its
book, signed."""

import json
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import httpx

from activities.vnpay import sign, signed_query, verify, vnp_time

PAY_PATH = "/paymentv2/vpcpay.html"
API_PATH = "/merchant_webapi/api/transaction"
# querydr's signed fields, in VNPAY's documented order: copied here from the documentation on
# purpose, not imported from activities/vnpay.py, so that a wrong order there fails the tests.
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


@dataclass
class Transaction:
    txn_ref: str
    amount: int  # in hundredths of a đồng, as VNPAY counts
    order_info: str
    transaction_no: str
    pay_date: str


@dataclass
class VnpayDouble:
    tmn_code: str
    hash_secret: str
    ipn_url: str = ""  # registered with "VNPAY" once the merchant's API has its address
    # What the next payments do: IPNs sent per payment, and đồng taken on top of the amount.
    ipn: Literal["once", "twice", "never"] = "once"
    overcharge_vnd: int = 0
    charges: Counter[str] = field(default_factory=Counter)
    book: dict[str, Transaction] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # why pay URLs were refused
    ipn_answers: list[dict[str, str]] = field(default_factory=list)
    queries: Counter[str] = field(default_factory=Counter)  # querydr asked, per TxnRef
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- the pay page -------------------------------------------------------------------

    def pay(self, query: str) -> tuple[int, str]:
        """The applicant at the pay URL, paying: (status, where the browser goes next)."""
        params = dict(parse_qsl(query, keep_blank_values=True))
        if not verify(self.hash_secret, params) or params.get("vnp_TmnCode") != self.tmn_code:
            self.refused.append("signature")
            return 400, ""
        if params["vnp_ExpireDate"] < vnp_time(datetime.now(UTC)):
            self.refused.append("expired")
            return 400, ""
        ref = params["vnp_TxnRef"]
        with self._lock:
            if ref in self.book:  # "Giao dịch đã tồn tại": never charged twice
                self.refused.append("txn_ref reused")
                return 400, ""
            self.charges[ref] += 1
            taken = int(params["vnp_Amount"]) + self.overcharge_vnd * 100
            number = f"{14000000 + len(self.book)}"
            paid_at = vnp_time(datetime.now(UTC))
            self.book[ref] = Transaction(ref, taken, params["vnp_OrderInfo"], number, paid_at)
        for _ in range({"once": 1, "twice": 2, "never": 0}[self.ipn]):
            self.send_ipn(ref)
        return 302, f"{params['vnp_ReturnUrl']}?{signed_query(self.hash_secret, self.result(ref))}"

    def result(self, ref: str) -> dict[str, str]:
        """The fields of an IPN (and of the return) for a transaction in the book."""
        t = self.book[ref]
        return {
            "vnp_TmnCode": self.tmn_code,
            "vnp_Amount": str(t.amount),
            "vnp_BankCode": "NCB",
            "vnp_BankTranNo": f"VNP{t.transaction_no}",
            "vnp_CardType": "ATM",
            "vnp_OrderInfo": t.order_info,
            "vnp_PayDate": t.pay_date,
            "vnp_ResponseCode": "00",
            "vnp_TransactionNo": t.transaction_no,
            "vnp_TransactionStatus": "00",
            "vnp_TxnRef": ref,
        }

    def send_ipn(self, ref: str, **changes: str) -> dict[str, str]:
        """The IPN for `ref`, signed (after `changes`, so a test can send what VNPAY would
        not), and the merchant's answer."""
        params = self.result(ref) | changes
        query = signed_query(self.hash_secret, params) + "&vnp_SecureHashType=HmacSHA512"
        answer: dict[str, str] = httpx.get(f"{self.ipn_url}?{query}", timeout=30).json()
        with self._lock:
            self.ipn_answers.append(answer)
        return answer

    # ---- querydr --------------------------------------------------------------------------

    def querydr(self, request: dict[str, Any]) -> dict[str, Any]:
        data = "|".join(str(request.get(name, "")) for name in _QUERY_SIGNED)
        signed_right = request.get("vnp_SecureHash") == sign(self.hash_secret, data)
        ref = str(request.get("vnp_TxnRef"))
        self.queries[ref] += 1
        t = self.book.get(ref)
        answer: dict[str, Any] = {
            "vnp_ResponseId": uuid.uuid4().hex,
            "vnp_Command": "querydr",
            "vnp_TmnCode": self.tmn_code,
            "vnp_TxnRef": ref,
        }
        if not signed_right:
            answer |= {"vnp_ResponseCode": "97", "vnp_Message": "Invalid Checksum"}
        elif t is None:
            answer |= {"vnp_ResponseCode": "91", "vnp_Message": "Transaction not found"}
        else:
            answer |= {
                "vnp_ResponseCode": "00",
                "vnp_Message": "QueryDR Success",
                "vnp_Amount": str(t.amount),
                "vnp_BankCode": "NCB",
                "vnp_PayDate": t.pay_date,
                "vnp_TransactionNo": t.transaction_no,
                "vnp_TransactionType": "01",
                "vnp_TransactionStatus": "00",
                "vnp_OrderInfo": t.order_info,
            }
        signed = "|".join(str(answer.get(name, "")) for name in _ANSWER_SIGNED)
        return answer | {"vnp_SecureHash": sign(self.hash_secret, signed)}


def serve(double: VnpayDouble) -> tuple[ThreadingHTTPServer, str]:
    """The double on a free local port; its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            if url.path != PAY_PATH:
                self.send_response(404)
                self.end_headers()
                return
            status, location = double.pay(url.query)
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = json.dumps(double.querydr(json.loads(body))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
