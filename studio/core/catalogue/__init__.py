"""What a project can name: layers, losses, optimizers, schedulers, augmentations."""
