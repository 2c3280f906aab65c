"""Local HTTP servers that answer like the providers Cradle calls (SendGrid, Twilio, Stripe,
Replicate), so tests run the real SDKs and assert on what the providers would have received."""
