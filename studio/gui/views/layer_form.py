"""The parameter form of the selected layer, built from the catalogue entry of its type."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from studio.gui.views.param_editors import ParamEditor

PRETRAINED = ("Backbone", "Segmenter", "Detector")  # their form changes with the model chosen
# The weights arguments with a weights choice: its objectName, and what None is called if not
# "none (untrained)" (a Detector without whole-model weights has its backbone's).
WEIGHTS = {
    ("Backbone", "weights"): ("backboneWeights", {}),
    ("Segmenter", "weights"): ("backboneWeights", {}),
    ("Detector", "weights"): ("backboneWeights", {"untrained": "none (backbone only)"}),
    ("Detector", "weights_backbone"): ("detectorBackboneWeights", {}),
}


class LayerForm(QScrollArea):
    """`argumentChanged(path, name, value)` for valid edits; None means auto or default."""

    argumentChanged = Signal(str, str, object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("layerForm")
        self.setWidgetResizable(True)
        self._path: str | None = None
        self._shown: str | None = None
        self._shown_type: str | None = None
        self.editors: dict[str, ParamEditor] = {}
        self._show_message("Select a layer to edit its arguments.")

    def _show_message(self, text: str) -> None:
        body = QWidget()
        layout = QVBoxLayout(body)
        label = QLabel(text)
        label.setWordWrap(True)
        label.setObjectName("formHint")
        layout.addWidget(label)
        layout.addStretch(1)
        self.setWidget(body)
        self.editors = {}
        self._shown = None

    def show_layer(self, path: str | None, layer, inferred: dict | None) -> None:
        from studio.core.catalogue import layers

        self._path = path
        if layer is None:
            self._show_message("Select a layer to edit its arguments.")
            return
        info = layers.get(layer.type)
        kind = f"{layer.type}:{layer.args.get('name')}" if layer.type in PRETRAINED else layer.type
        if path == self._shown and self.editors and self._shown_type == kind:
            for name, editor in self.editors.items():  # same layer: update in place, keep focus
                value = (
                    (layer.merge or "concat")
                    if name == "merge"
                    else layer.args.get(
                        name, None if editor.param.inferred else editor.param.default
                    )
                )
                if editor.value() != value and not editor.has_focus():
                    editor.set_value(value)
            _show_whole_model(layer, self.editors)
            return
        self._shown, self._shown_type = path, kind
        body = QWidget()
        form = QFormLayout(body)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        title = QLabel(
            f"<b>{layer.type}</b> <span style='color:#8a93a6'>layer {path}</span><br>"
            f"<span style='color:#aab2c0'>{info.doc}</span>"
        )
        title.setWordWrap(True)
        form.addRow(title)
        self.editors = {}
        for param in info.params:
            if param.name == "merge":
                value = layer.merge or "concat"
            else:
                value = layer.args.get(param.name, None if param.inferred else param.default)
            editor = self._editor(layer, param, value, (inferred or {}).get(param.name))
            editor.committed.connect(self._committed)
            self.editors[param.name] = editor
            label = QLabel(param.name + ("" if not param.required else " *"))
            label.setToolTip(param.expected())
            form.addRow(label, editor)
        if not info.params:
            form.addRow(QLabel("This layer has no arguments."))
        _show_whole_model(layer, self.editors)
        self.setWidget(body)

    @staticmethod
    def _editor(layer, param, value, inferred):
        """The editor of one argument; a pretrained layer's weights (a Detector's two) and a
        Backbone's frozen switch have their own (and the names tests and scripts find them by)."""
        if (layer.type, param.name) in WEIGHTS:
            from studio.gui.views.weights_editor import WeightsEditor

            name, untrained = WEIGHTS[layer.type, param.name]
            choices = _weights_choices(
                layer.type, param.name, layer.args.get("name", param.default)
            )
            return WeightsEditor(param, value, choices, name=name, **untrained)
        editor = ParamEditor(param, value, inferred)
        if layer.type == "Backbone" and param.name == "frozen":
            editor.setObjectName("backboneFrozen")
        return editor

    def _committed(self, name: str, value: object) -> None:
        if self._path is not None:
            self.argumentChanged.emit(self._path, name, value)


def _weights_choices(layer_type: str, param: str, model: str) -> tuple[str, ...]:
    """The torchvision weights a pretrained layer's model offers for `param`."""
    if layer_type == "Backbone":
        from studio.core.model.backbones import infos

        info = infos().get(model)
        return info.weights if info else ("DEFAULT",)
    from studio.core.model import detectors, segmenters

    family = segmenters if layer_type == "Segmenter" else detectors
    if model not in family.names():
        return ()
    if param == "weights_backbone":
        return detectors.backbone_of(model)[1]
    return family.weights_names(model)


def _show_whole_model(layer, editors: dict) -> None:
    """A Detector given a whole model's weights loads its backbone's with them: its
    weights_backbone is unused then, and says so."""
    editor = editors.get("weights_backbone")
    if layer.type != "Detector" or editor is None:
        return
    whole = layer.args.get("weights") is not None
    editor.set_unused(
        "unused: the whole model's weights (weights) hold the backbone's" if whole else None
    )
