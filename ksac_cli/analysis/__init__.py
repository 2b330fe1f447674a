"""`ksac analyze`: tests of the paper's reason, not only its score (paper.md: one kernel "sees" a pattern
at several scales). Three measurements of a trained model, each a plain function:
`scales.at_scale` (mIoU when every val image is rescaled), `erf.effective_receptive_field` (Luo et
al. 2016) and `branches.silenced` (the head with one atrous branch zeroed, for the mIoU without it)."""
