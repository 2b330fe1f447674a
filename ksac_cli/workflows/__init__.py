"""The library API the CLI is thin over: one module per command (`workflows.train.train(cfg)`,
`workflows.evaluate.evaluate_checkpoint(...)`, ...), plain arguments and configs in, files and rows out.
Nothing here prints or imports the CLI libraries; progress goes through callbacks. This package imports
none of its modules up front, so `ksac report` (pandas, matplotlib) never loads torch."""
