"""The layer palette: the catalogue by torch.nn category, with a filter; double-click or drag."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

LAYER_MIME = "application/x-torch-studio-layer"
PRETRAINED = "Pretrained Models"  # the catalogue's category: one palette entry a torchvision model


class _PaletteTree(QTreeWidget):
    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:
        data = QMimeData()
        kinds = [
            item.data(0, Qt.ItemDataRole.UserRole) for item in items if item.parent() is not None
        ]
        if kinds:
            data.setData(LAYER_MIME, kinds[0].encode())
            data.setText(kinds[0])
        return data


class LayerPalette(QWidget):
    """Emits `layerChosen(type)` on double-click or Enter."""

    layerChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.filter = QLineEdit()
        self.filter.setObjectName("paletteFilter")
        self.filter.setPlaceholderText("Filter layers…")
        self.filter.setClearButtonEnabled(True)
        self.tree = _PaletteTree()
        self.tree.setObjectName("layerPalette")
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree)
        self.filter.textChanged.connect(self._apply_filter)
        self.tree.itemActivated.connect(self._activated)

    def populate(self) -> None:
        from studio.core.catalogue import layers

        self.tree.clear()
        for category, entries in layers.by_category():
            group = QTreeWidgetItem([category])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setBold(True)
            group.setFont(0, font)
            if category == PRETRAINED:
                group.setText(0, "Pretrained models (torchvision)")
                group.addChildren(_pretrained_items())
            for info in entries if category != PRETRAINED else ():
                item = QTreeWidgetItem([info.type])
                item.setData(0, Qt.ItemDataRole.UserRole, info.type)
                item.setToolTip(0, f"<b>{info.type}</b><br>{info.doc}")
                group.addChild(item)
            self.tree.addTopLevelItem(group)
        self.tree.expandAll()
        self.pretrained_group().setExpanded(False)  # long: opened on demand, or by the filter

    def pretrained_group(self) -> QTreeWidgetItem:
        return next(
            self.tree.topLevelItem(i)
            for i in range(self.tree.topLevelItemCount())
            if self.tree.topLevelItem(i).text(0).startswith("Pretrained")
        )

    def items(self) -> list[QTreeWidgetItem]:
        return [
            self.tree.topLevelItem(i).child(j)
            for i in range(self.tree.topLevelItemCount())
            for j in range(self.tree.topLevelItem(i).childCount())
        ]

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            visible = 0
            for j in range(group.childCount()):
                child = group.child(j)
                match = (
                    not needle
                    or needle in child.text(0).lower()
                    or needle in child.toolTip(0).lower()
                )
                child.setHidden(not match)
                visible += match
            group.setHidden(visible == 0)
            if needle and visible:
                group.setExpanded(True)

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        kind = item.data(0, Qt.ItemDataRole.UserRole)
        if kind:
            self.layerChosen.emit(kind)


def _pretrained_items() -> list[QTreeWidgetItem]:
    """A palette entry per torchvision model: its name, size and ImageNet accuracy."""
    from studio.core.model.backbones import infos

    items = []
    for info in infos().values():
        accuracy = f" · {info.top1:.1f}%" if info.top1 else ""
        item = QTreeWidgetItem([f"{info.name}  {info.params / 1e6:.1f}M{accuracy}"])
        item.setData(0, Qt.ItemDataRole.UserRole, f"Backbone:{info.name}")
        item.setToolTip(
            0,
            f"<b>{info.name}</b> (torchvision), pretrained on ImageNet: {info.params:,} parameters, "
            f"top-1 accuracy {info.top1}%, weights {info.file_mb or '?'} MB "
            f"({', '.join(info.weights)}). Added as a Backbone: it gives pooled features; the "
            "layers after it are the new head.",
        )
        items.append(item)
    return items + _segmenter_items() + _detector_items()


def _segmenter_items() -> list[QTreeWidgetItem]:
    """A palette entry per torchvision segmentation model: its name, size and COCO mIoU."""
    from torchvision import models

    from studio.core.model.segmenters import names

    items = []
    for name in names():
        meta = models.get_model_weights(name).DEFAULT.meta
        miou = meta.get("_metrics", {}).get("COCO-val2017-VOC-labels", {}).get("miou")
        item = QTreeWidgetItem([f"{name}  {meta['num_params'] / 1e6:.1f}M · mIoU {miou}"])
        item.setData(0, Qt.ItemDataRole.UserRole, f"Segmenter:{name}")
        item.setToolTip(
            0,
            f"<b>{name}</b> (torchvision), a segmentation model pretrained on COCO's VOC classes: "
            f"{meta['num_params']:,} parameters, mIoU {miou}%. Added as a Segmenter: it gives a "
            "score per class at every pixel (set num_classes to your classes).",
        )
        items.append(item)
    return items


def _detector_items() -> list[QTreeWidgetItem]:
    """A palette entry per torchvision detection model: its name, size and COCO box mAP."""
    from torchvision import models

    from studio.core.model.detectors import backbone_of, names

    items = []
    for name in names():
        meta = models.get_model_weights(name).DEFAULT.meta
        box_map = meta.get("_metrics", {}).get("COCO-val2017", {}).get("box_map")
        score = f" · box mAP {box_map}" if box_map is not None else ""
        item = QTreeWidgetItem([f"{name}  {meta['num_params'] / 1e6:.1f}M{score}"])
        item.setData(0, Qt.ItemDataRole.UserRole, f"Detector:{name}")
        trained = f", COCO box mAP {box_map}" if box_map is not None else ""
        item.setToolTip(
            0,
            f"<b>{name}</b> (torchvision), an object detection model: {meta['num_params']:,} "
            f"parameters{trained}; its backbone is {backbone_of(name)[0]} (ImageNet weights by "
            "default, or the whole model's COCO weights). Added as a Detector: it gives each "
            "image's boxes with a class and a score (set num_classes to your classes).",
        )
        items.append(item)
    return items
