"""RQ workers: the render runtime (resident pipelines), job functions, the reconciliation sweep."""
