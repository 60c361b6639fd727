"""The Run form, the training thread's worker, the loss plot and the KL bars."""
