"""CelebA-Dialog's label names: CelebA's 40 attributes, the five fine-grained attributes and what each of
their degrees 0..5 means, CelebAMask-HQ's face-parsing labels and colours, and the split names."""

from __future__ import annotations

# The 40 CelebA attributes in the order of the attribute files; features use them lowercased.
ATTRIBUTE_NAMES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby",
    "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male",
    "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose",
    "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair",
    "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip

# The five fine-grained attributes, named for what their degrees mean, and their columns in the source files.
FINE_GRAINED_COLUMNS = {
    "bangs": "Bangs",
    "eyeglasses": "Eyeglasses",
    "beard": "No_Beard",
    "smiling": "Smiling",
    "age": "Young",
}
FINE_GRAINED_NAMES = tuple(FINE_GRAINED_COLUMNS)
# What each degree 0..5 means, from the release; these are the ClassLabel names of `fine_grained`.
DEGREE_NAMES = {
    "bangs": (
        "Has no bangs. Can see 100% of the forehead.",
        "Has very short bangs. Can see 80% of the forehead.",
        "Has middle short bangs. Can see 60% of the forehead.",
        "Has middle-length bangs. Can see 40% of the forehead.",
        "Has middle long bangs. Can see 20% of the forehead.",
        "Has long bangs. Can see 0% of the forehead.",
    ),
    "eyeglasses": (
        "No eyeglasses.",
        "With eyeglasses that are rimless or have very thin metal frames.",
        "With eyeglasses that have middle-thickness metal frames or thin plastic frames.",
        "With eyeglasses that have thick plastic frames.",
        "With thin-frame sunglasses.",
        "With thick-frame sunglasses.",
    ),
    "beard": (
        "Has no beard.",
        "Has a beard that is just shaved and very short.",
        "Hasn't shaved for a while and has a middle-short beard.",
        "Has grown a beard that is middle-length.",
        "Has grown a beard that is long and well-groomed.",
        "Has a bushy beard that is long and not groomed.",
    ),
    "smiling": (
        "Is not smiling.",
        "Has a small smile. Cannot see the teeth.",
        "Has a small smile. Can see some teeth.",
        "Is smiling. Can see the entire row of teeth.",
        "Has a big smile. Can see the entire row of teeth. The mouth is slightly open.",
        "Has a very big smile. Can see the entire row of teeth. The mouth is wide open.",
    ),
    "age": (
        "Is less than 15 years old. Has a childlike look on the face.",
        "Is between 15 and 30 years old. Teenager.",
        "Is between 30 and 40 years old. Young adults.",
        "Is between 40 and 50 years old. Middle-aged.",
        "Is between 50 and 60 years old. Aged.",
        "Is above 60. The elderly.",
    ),
}
DEGREES = range(6)

# CelebAMask-HQ's face-parsing labels: the pixel values 0..18 of `mask`, in the source's own names
# (eye_g: eyeglasses, l_/r_: left/right, ear_r: earring, neck_l: necklace, cloth: clothes).
MASK_LABEL_NAMES = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear", "mouth",
    "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)  # fmt: skip
# The colour the colorized masks draw each label in (RGB, by label id).
MASK_PALETTE = (
    (0, 0, 0), (204, 0, 0), (76, 153, 0), (204, 204, 0), (51, 51, 255), (204, 0, 204), (0, 255, 255),
    (255, 204, 204), (102, 51, 0), (255, 0, 0), (102, 204, 0), (255, 255, 0), (0, 0, 153), (0, 0, 204),
    (255, 51, 153), (0, 204, 204), (0, 51, 0), (255, 153, 51), (0, 204, 0),
)  # fmt: skip
# The 18 binary part masks, one per label but the background.
MASK_PART_NAMES = MASK_LABEL_NAMES[1:]

SPLITS = ("train", "validation", "test")
# CelebA's list_eval_partition.txt numbers the splits 0, 1, 2.
PARTITION_SPLITS = {"0": "train", "1": "validation", "2": "test"}
