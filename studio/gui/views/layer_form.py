"""The parameter form of the selected layer, built from the catalogue entry of its type."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from studio.gui.views.param_editors import ParamEditor


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
        kind = f"{layer.type}:{layer.args.get('name')}" if layer.type == "Backbone" else layer.type
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
        self.setWidget(body)

    @staticmethod
    def _editor(layer, param, value, inferred):
        """The editor of one argument; a Backbone's (and a Segmenter's) weights and a Backbone's
        frozen switch have their own (and the names tests and scripts find them by)."""
        if layer.type == "Backbone" and param.name == "weights":
            from studio.core.model.backbones import infos
            from studio.gui.views.weights_editor import WeightsEditor

            model = infos().get(layer.args.get("name", "resnet18"))
            return WeightsEditor(param, value, model.weights if model else ("DEFAULT",))
        if layer.type == "Segmenter" and param.name == "weights":
            from studio.core.model.segmenters import names, weights_names
            from studio.gui.views.weights_editor import WeightsEditor

            name = layer.args.get("name", "lraspp_mobilenet_v3_large")
            return WeightsEditor(param, value, weights_names(name) if name in names() else ())
        editor = ParamEditor(param, value, inferred)
        if layer.type == "Backbone" and param.name == "frozen":
            editor.setObjectName("backboneFrozen")
        return editor

    def _committed(self, name: str, value: object) -> None:
        if self._path is not None:
            self.argumentChanged.emit(self._path, name, value)
