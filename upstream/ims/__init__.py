"""Simulated Adobe IMS: ``POST /ims/token/v3`` (OAuth server-to-server, client_credentials)."""
