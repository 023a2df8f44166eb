"""The model a project describes: building it, its shapes, the studio's blocks, pretrained backbones."""
