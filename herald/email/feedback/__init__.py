"""What providers report back about messages they took (deliveries, bounces, complaints,
unsubscribes, opens and clicks), received at `/webhooks/<provider>/<provider id>`, each
authenticated the provider's own way, and applied to the ledger and the suppression list."""
