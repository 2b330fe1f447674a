"""The ablation grid: expand it into cells, run each as a normal train run + eval, append rows."""
