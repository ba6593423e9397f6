"""grid's HTTP endpoint: DynamoDB's JSON 1.0 wire protocol in front of grid's native API."""
