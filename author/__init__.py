"""The AEM author of the author-report design: it fetches the report and publishes it."""
