SUMMARY = "core-image-minimal as an uptree OS: a commit in UPTREE_REPO and a flashable disk"
DESCRIPTION = "The smallest uptree image, and the example for your own: any image \
               recipe becomes an uptree image with 'inherit uptree-image'."
SECTION = "images"
LICENSE = "MIT"

require recipes-core/images/core-image-minimal.bb

inherit uptree-image
