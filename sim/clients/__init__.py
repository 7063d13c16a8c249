"""What drives the cluster: producers, transactional producers, consumers, workloads, pipelines.
Imports the cluster below it, never runs, reports or scenarios."""
