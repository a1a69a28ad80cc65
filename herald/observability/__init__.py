"""What an operator watches: Prometheus metrics (`metrics`) and structured logs (`logs`)."""
