"""Galleries' writes, one module per concept: ``gallery`` (a parent's gallery and its
portraits), ``sending`` (the link and its deliveries), ``notices`` (the favourites email and
the expiry reminder), ``provider_webhooks`` (providers' reports and SMS opt-out),
``erasure`` (a parent's data, exported or erased), ``retention`` (old scans purged) and
``delivery_outbox`` (what a delivery hands on after commit)."""
