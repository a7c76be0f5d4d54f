//! Optimizers (SGD, momentum, RMSprop, Adam, AdamW, Adagrad) and learning-rate schedules that consume parameter gradients (issue: optim).
