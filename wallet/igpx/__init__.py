"""The igpx sportsbook: protocol, callbacks, client and simulator."""
