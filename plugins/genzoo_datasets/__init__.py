"""Built-in data sets: one texture image, bundled photographs, MNIST-format IDX files, a folder
of images, and the paper's benchmarks through torchvision."""

from genzoo import hookimpl
from genzoo_datasets.idx import fashion_mnist, mnist
from genzoo_datasets.image_folder import image_folder
from genzoo_datasets.imagenet_npz import imagenet32, imagenet64
from genzoo_datasets.lsun import lsun
from genzoo_datasets.photos import photos
from genzoo_datasets.texture_image import texture_image
from genzoo_datasets.vision import celeba64, cifar10, cifar100, svhn


@hookimpl
def register_datasets(register):
    register("texture_image", texture_image)
    register("fashion_mnist", fashion_mnist)
    register("mnist", mnist)
    register("image_folder", image_folder)
    register("photos", photos)
    register("cifar10", cifar10)
    register("cifar100", cifar100)
    register("svhn", svhn)
    register("celeba64", celeba64)
    register("lsun", lsun)
    register("imagenet32", imagenet32)
    register("imagenet64", imagenet64)
