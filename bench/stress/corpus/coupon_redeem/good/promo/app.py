"""Flask endpoint redeeming a coupon against the shared ledger."""
from flask import Flask, abort, jsonify, request

from .ledger import CouponLedger

app = Flask(__name__)
ledger = CouponLedger({"SPRING10": 500, "VIP": 20})


@app.post("/coupons/<code>/redeem")
def redeem_coupon(code):
    order_id = request.args.get("order", "")
    if not ledger.redeem(code, order_id):
        abort(409, description="coupon exhausted")
    return jsonify(code=code, remaining=ledger.remaining(code))
