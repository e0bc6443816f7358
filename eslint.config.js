import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.shiptrack/', 'coverage/', 'bin/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='process'][callee.property.name='exit']",
          message: 'set process.exitCode; only src/cli/main.ts may exit',
        },
      ],
    },
  },
  {
    files: ['src/cli/main.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    // The CLI's launcher is CommonJS (see the file): TypeScript's CommonJS imports are `import x = require(…)`.
    files: ['**/*.cts'],
    rules: { '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }] },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**', 'src/render/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['commander', 'chalk', 'cli-table3', '@inquirer/prompts'].map((name) => ({
            name,
            message: 'presentation libraries belong in src/cli or src/render',
          })),
        },
      ],
      'no-console': 'error',
    },
  },
  { files: ['eslint.config.js', 'examples/**/*.mjs', 'scripts/**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['examples/**/*.mjs', 'scripts/**/*.mjs'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly' } },
  },
);
