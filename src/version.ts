declare const __ACMG_VERSION__: string | undefined;

/** acmg's version: injected by the bundler; tests run from source see the development marker. */
export const VERSION: string = typeof __ACMG_VERSION__ === 'string' ? __ACMG_VERSION__ : '0.0.0-dev';
