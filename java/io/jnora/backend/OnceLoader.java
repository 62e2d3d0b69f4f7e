package io.jnora.backend;

import io.jnora.BackendUnavailableException;

/**
 * Loads a native library once. A failure is kept and rethrown, as the same typed error naming its
 * cause, at every later attempt: JavaCPP would otherwise answer NoClassDefFoundError from then on.
 */
final class OnceLoader {
    private final String what;
    private final Class<?> presets;
    private volatile boolean loaded;
    private String failure;

    OnceLoader(String what, Class<?> presets) {
        this.what = what;
        this.presets = presets;
    }

    void ensureLoaded() {
        if (loaded) {
            return;
        }
        synchronized (this) {
            if (loaded) {
                return;
            }
            if (failure == null) {
                try {
                    org.bytedeco.javacpp.Loader.load(presets);
                    loaded = true;
                    return;
                } catch (Throwable t) {
                    failure = t.toString();
                }
            }
            throw new BackendUnavailableException(what + " failed to load: " + failure);
        }
    }
}
