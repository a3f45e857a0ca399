"""Decisions: from a probability of default to an answer a credit team can act on.

Pure (no boto3, botocore or SQLAlchemy):

- :mod:`.policy`: score points, grade, decision band, expected loss, principal reasons,
  all set by a versioned policy;
- :mod:`.approval`: which PDs the policy approves, for a whole array (fairness figures);
- :mod:`.scoring`: rows scored with a loaded model (one application or a whole batch);
- :mod:`.columnar`: a chunk of loans decided at once, in columns (the re-score path);
- :mod:`.simulation`: a proposed policy replayed over the book beside the current one
  (figures observed and inferred from PD, swap set, efficient frontier).

I/O:

- :mod:`.serving`: the champion loaded once per container, and batches scored into
  ``ml.scores``;
- :mod:`.rescore`: the re-score state machine's steps (plan the chunks, score a chunk,
  reconcile the run) and how a run starts;
- :mod:`.policy_store`: promoted policies by version, the policy in force per container,
  the book a policy is simulated over, stored simulations.
"""
