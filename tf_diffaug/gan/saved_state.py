"""What of `td.GAN` itself a weights file holds: its state variables by name and its random-number state.

Keras saves each network, optimizer and layer of the GAN under its own path; `GAN.save_own_variables`
and `GAN.load_own_variables` delegate here for the rest:

- the model's own variables, keyed by name: `step` (the step counter) and, when compiled with them,
  `lecam_anchor_real` / `lecam_anchor_fake` (`td.gan.regularizers.LeCamRegularizer`) and
  `ada_sign_sum` / `ada_count` (`td.gan.adaptive.ADAController`);
- `random_state_{i}`: the state of every `keras.random.SeedGenerator` in the model (latents,
  samples, augment layers), which Keras does not save, so that a run resumed with
  `BackupAndRestore` draws the same latents and augmentations as an uninterrupted one.

Files written before the regularizer and ADA objects owned their state hold all five variables
under the keys `"0"` ... `"4"` in the order of `POSITIONAL_ORDER`; they still load (entries the
GAN's compile settings do not use are skipped).

Example:
>>> g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4), keras.layers.Reshape((2, 2, 1))])
>>> d = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
>>> from tf_diffaug.gan.model import GAN
>>> gan = GAN(g, d, latent_dim=2, seed=0)
>>> gan.compile(g_optimizer=keras.optimizers.SGD(), d_optimizer=keras.optimizers.SGD(), lecam_weight=0.1)
>>> store = {}
>>> save(gan, store)
>>> sorted(store)
['lecam_anchor_fake', 'lecam_anchor_real', 'random_state_0', 'random_state_1', 'step']
>>> load(gan, {"0": 7, "1": 0.5, "2": -0.5, "3": 3.0, "4": 8.0})  # an older file
>>> int(gan.step_counter), float(gan.lecam.anchor_real)
(7, 0.5)
"""

# The state variables of older files, by position ("0" ... "4"); all five were always present.
POSITIONAL_ORDER = ("step", "lecam_anchor_real", "lecam_anchor_fake", "ada_sign_sum", "ada_count")


def random_states(model):
    """The state variables of every `keras.random.SeedGenerator` in `model`, in a fixed order."""
    states, seen = [], set()
    for layer in [model] + list(model._flatten_layers(include_self=False)):
        for generator in getattr(layer, "_seed_generators", []):
            if id(generator) not in seen:
                seen.add(id(generator))
                states.append(generator.state)
    return states


def own_variables(model):
    """`{name: variable}` of the model's own variables (not those of its layers or optimizers)."""
    own = model._trainable_variables + model._non_trainable_variables
    names = [variable.name for variable in own]
    if len(set(names)) != len(names):
        raise ValueError(f"Model {model.name!r} has own variables with repeated names: {names}.")
    return dict(zip(names, own))


def save(model, store):
    """Writes the model's own variables (by name) and its random states into `store` (a dict-like)."""
    for name, variable in own_variables(model).items():
        store[name] = variable
    for index, state in enumerate(random_states(model)):
        store[f"random_state_{index}"] = state


def load(model, store):
    """Assigns what `save` wrote (or an older positional layout) to the model's variables.

    Raises:
        ValueError: when the stored state variables are not the model's (e.g. the GAN was compiled
            with other LeCam / ADA settings than the saved one) or the random states do not match.
    """
    own = own_variables(model)
    random_keys = [key for key in store.keys() if str(key).startswith("random_state_")]
    keys = [str(key) for key in store.keys() if not str(key).startswith("random_state_")]
    if sorted(keys) == [str(index) for index in range(len(POSITIONAL_ORDER))]:
        entries = {name: str(index) for index, name in enumerate(POSITIONAL_ORDER) if name in own}
    else:
        entries = {key: key for key in keys}
    states = random_states(model)
    if sorted(entries) != sorted(own) or len(random_keys) not in (0, len(states)):
        raise ValueError(
            f"GAN {model.name!r} has the state variables {sorted(own)} and {len(states)} random states; the "
            f"file has {sorted(keys)} and {len(random_keys)}. Compile the GAN as the saved one was compiled "
            "(lecam_weight > 0 and ada_target add state) before loading."
        )
    for name, key in entries.items():
        own[name].assign(store[key])
    for index in range(len(random_keys)):
        states[index].assign(store[f"random_state_{index}"])
