"""The browser snippet served at /sdk.js, and the CORS rules that let websites call ingestion."""
