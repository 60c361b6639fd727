"""The exceptions a person can cause, each with a message that says what to do."""


class VaeStudioError(Exception):
    """Base class of every error VAE Studio reports to a person (CLI message or dialog)."""


class DatasetError(VaeStudioError):
    """A dataset could not be found, fetched or read."""


class DataFileError(DatasetError):
    """A data file exists but is not a valid IDX file or image."""


class ModelFileError(VaeStudioError):
    """A model file could not be read or written."""


class ConfigError(VaeStudioError):
    """A setting is out of range or inconsistent with another."""


class DeviceError(VaeStudioError):
    """The requested device (CUDA, MPS) is not available here."""


class TrainingError(VaeStudioError):
    """Training could not go on (non-finite loss, out of memory)."""


class ExportError(VaeStudioError):
    """An image, animation or table could not be written."""


class ResourceMissingError(VaeStudioError):
    """A file that ships with VAE Studio (a bundled model, the icon) is not where it should be."""
