"""The graph format: a `nodecat-graph/1` document read strictly (load), its structure checked against
the schema (structure), every op, argument, port and edge checked against the catalogs (catalogs,
validate), the closed vocabulary of kinds and error codes (vocabulary) and the one error type a user
sees (errors).

Nothing here imports torch or keras: checking a graph never builds it.
"""
