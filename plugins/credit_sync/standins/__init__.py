"""Stand-ins for the provincial credit platform and 信用白银 (the city public credit site).

The real platforms are unreachable from development and CI, so tests, the demo and
docker-compose talk to a small but real HTTP server that implements the same contract
(see ``docs/platform-contract.md``). ``credit_sync.standins.platform`` holds the FastAPI
app factory; ``python -m credit_sync.standins`` runs it.
"""
