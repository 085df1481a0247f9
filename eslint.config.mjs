// ESLint 9 flat config: typescript-eslint's type-aware recommended rules for ts/ and test/ (one program,
// tsconfig.test.json), the JavaScript recommended rules for the .mjs/.js files. Run by the quality gate
// (scripts/gate.mjs); `npx eslint .` locally.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'native/', 'npm/', 'target/', 'artifacts/', '.cluster/', '.tmp/', '.napi-out/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `_`-prefixed names are deliberately unused (overload-compatible signatures, destructuring to drop a key).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // Methods implementing a Promise-returning interface (plugin hooks, driver faces) are async without awaiting.
      '@typescript-eslint/require-await': 'off',
      // A driver's error is passed on as it came (`unknown`, as caught): rejecting or throwing it is not a bug.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true }],
      // Method references are taken on purpose: Error.captureStackTrace's cut-off frame, mysql2 functions re-exported.
      '@typescript-eslint/unbound-method': 'off',
      // Driver error fields and option values are `unknown` and interpolated into messages as they are, on purpose.
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      // pg's untyped internals get ambient declarations (ts/dialects/driver/pg-internals.d.ts), included by path.
      '@typescript-eslint/triple-slash-reference': ['error', { path: 'always' }],
    },
  },
  {
    // Tests read driver results that @types/pg and mysql2 type as `any` (rows, fields, packets).
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js', '**/*.cjs'],
    languageOptions: { globals: { ...globals.node } },
  },
  // `catch {}`: best-effort clean-up whose failure changes nothing.
  { rules: { 'no-empty': ['error', { allowEmptyCatch: true }] } },
);
