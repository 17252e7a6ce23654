"""A fake ProphetX for tests, the demo and the benchmark: the partner/MM REST endpoints, the parlay SP
endpoints and offer/confirm callbacks, and a Pusher-protocol (7) WebSocket server, all on
localhost, speaking the wire format in docs/prophetx.md.

It also plays the UOF side for its own games (`price_source()`), so a listener can price the
RFQs it broadcasts. ProphetX-side checks are enforced the way the docs describe them: offers
must carry positive integer odds, valid_until at least 5 s ahead, one estimated price per leg
that reproduces the parlay price ("invalid estimated prices"); an accept must echo the odds and
carry probabilities whose product is the implied probability ("Invalid Probability").

Run it alone with `python manage.py prophetx_simulator`.

Where each part lives:
  - games.py: the simulated games, their markets and prices (make_games, SimPriceSource);
  - server.py: ProphetXSimulator, its settings, state, start and stop;
  - websocket.py: the Pusher WebSocket server (subscriptions, health checks, publishing);
  - rfq.py: the bettor's side of the RFQ flow (ask, confirm, finalize, settle, steady traffic);
  - rest.py: the REST endpoints and our callbacks (offers, confirmations) they receive;
  - checks.py: the checks ProphetX makes on our offers and confirmations.
"""

from parlays.simulator.games import SimGame, SimMarket, SimOutcome, SimPriceSource, make_games
from parlays.simulator.rfq import SimAsk, SimOrder
from parlays.simulator.server import ProphetXSimulator

__all__ = [
    "ProphetXSimulator", "SimAsk", "SimGame", "SimMarket", "SimOrder", "SimOutcome", "SimPriceSource", "make_games",
]  # fmt: skip
