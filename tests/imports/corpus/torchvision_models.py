"""torchvision's classification models as a factory function: `--args '{"name": "resnet50"}'`."""

import torchvision


def model(name="resnet18", num_classes=1000):
    return torchvision.models.get_model(name, weights=None, num_classes=num_classes)
