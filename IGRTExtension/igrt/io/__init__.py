"""Input and output of images and plans: DICOM series folders, volume files, RT plans, CT series export.

Everything here refuses ambiguous input with one ``IGRTInputError`` line rather than guessing:
a wrong slice order or a dropped orientation is a geometric miss at the couch.
"""
