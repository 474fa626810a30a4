"""Argument checks shared by the network builders: one clear error naming the value and the accepted ones."""

import numbers


def check_choice(argument, value, accepted, network):
    """Raises ValueError unless `value` is one of `accepted`."""
    if value not in accepted:
        raise ValueError(
            f"Unsupported {argument} {value!r} for network '{network}'. Expected one of {sorted(accepted)}."
        )
    return value


def check_common(network, resolution, channels, num_classes, latent_dim, resolutions):
    """Validates the arguments every builder takes."""
    check_choice("resolution", resolution, resolutions, network)
    check_choice("channels", channels, (1, 3), network)
    if num_classes is not None and (
        not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool) or num_classes < 1
    ):
        raise ValueError(f"num_classes must be a positive int or None. Received: num_classes={num_classes!r}")
    if not isinstance(latent_dim, numbers.Integral) or isinstance(latent_dim, bool) or latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive int. Received: latent_dim={latent_dim!r}")
