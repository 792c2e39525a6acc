"""The outbox: every outbound message and deferred WeChat call, its channels, the
platform's limits, and the dispatcher that sends them after the transaction commits."""
