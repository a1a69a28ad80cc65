"""Analytics: measures defined once, hourly rollups kept from the ledger and events, reports."""
