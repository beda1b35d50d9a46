"""CelebA-Dialog's own code, used by the `celeba_dialog` dataset script at the repository root.

- `labels`: the label names, degree texts and the face-parsing mask palette;
- `sources`: the files each part reads, where they come from, and finding them in a download folder;
- `files`: finding files by name on disk or inside zip archives, and reading them in place;
- `parsers`: one small pure parser per label file;
- `rows`: joining the label files by image name, and reading each row's image and masks;
- `skip_kinds`: the kinds of skip-report lines (why an image is left out, or kept with values None);
- `images`: checking an image file before it is stored.

Nothing here imports `datasets`: the parsers can be used and tested on their own.
"""
