"""Payloads as ProphetX documents them (seed 000 and docs/prophetx.md), kept verbatim, typographic
dashes included, apart from the seed's literal "[...]" placeholder which is not JSON."""

PRICE_ASK = """{"payload": {"parlay_id": "83d790df-1ced-4490-a06a-7cb224faf59b", "stake": 3.49,
 "callback_url": "https://api-ss-sandbox.betprophet.co/parlay/sp/order/offers",
 "created_at": 1744210012349577200,
 "market_lines": [{"line": 5.5, "line_id": "4507a1464a5b43289a99f45f53f5af65", "market_id": 412, "outcome_id": 13, "sport_event_id": 30023691},
                  {"line_id": "fc10da901964584da0700e5d78b83904", "market_id": 1303, "outcome_id": 5, "sport_event_id": 9615}]},
 "timestamp": 1744210012349577300}"""

ORDER_MATCHED = (
    '{"payload": {"market_lines": [], "matched_at": 1759216871383341000, "matched_odds": 188, "matched_stake": 3.49,'
    '"parlay_id": "28250d66–30a4–406b-b90c-cd65c96d4c72", "timestamp": 1759216871383340000}}'
)

ORDER_FINALIZED = (
    '{"payload":{"confirmed_odds":-100000,"confirmed_stake":1349.049722844427,"odds":-100000,'
    '"order_uuid":"01977e64–756b-7a75-b218-f0a0e4032004","parlay_id":"23851166–3e18–4b3c-aea7–16de1b114bb8",'
    '"status":"finalized","updated_at":1750172203426483200},"timestamp":1750172203428558300}'
)

ORDER_SETTLED = (
    '{ "payload": { "order_uuid": "01991588–274d-70be-ac0a-cf876677d57f", "parlay_id": "fdd7e3fb-ef50–42eb-9d73–43d3d7f1390f",'
    ' "settlement_status": "won", "settled_at": 1757002869231213000, "profit": 150 }, "timestamp": 1757002869231213000 }'
)

PARLAY_SETTLED = (
    '{ "payload": { "parlay_id": "fdd7e3fb-ef50–42eb-9d73–43d3d7f1390f", "settlement_status": "won",'
    ' "settled_at": 1757002869231213000, "profit": 150 }, "timestamp": 1757002869231213000 }'
)

PRICE_CONFIRM = (
    '{"payload": {"parlay_id": "83d790df-1ced-4490-a06a-7cb224faf59b", "order_uuid": "01977e64-756b-7a75-b218-f0a0e4032004",'
    ' "callback_url": "https://api-ss-sandbox.betprophet.co/parlay/sp/order/confirm", "odds": -1774, "stake": 200},'
    ' "timestamp": 1744210015349577200}'
)

# The docs' offer body (a +800 parlay of two +200 legs) and confirm body.
OFFER_BODY = {
    "parlay_id": "83d790df-1ced-4490-a06a-7cb224faf59b",
    "offers": [
        {
            "valid_until": 1744210517349577200,
            "odds": 800,
            "max_risk": 200,
            "estimated_price": [
                {"line_id": "4507a1464a5b43289a99f45f53f5af65", "odds": 200},
                {"line_id": "fc10da901964584da0700e5d78b83904", "odds": 200},
            ],
        }
    ],
}
