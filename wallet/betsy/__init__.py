"""The betsy sportsbook: protocol, callbacks, client and simulator."""
