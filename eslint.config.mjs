// Type-aware linting for the whole project; the domain core is kept pure by rule, not by habit.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'dist/**', '.cache/**', '.local/**', 'coverage/**', '*.config.js'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      // fastify handlers and port implementations are async by contract, awaiting or not.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // The Postgres and Kafka clients and the logger stay behind the ports of src/infra (STYLE.md:
    // "Kafka stays behind a narrow port of our own"; the layout: src/infra is "the only code
    // importing pg, kafkajs, pino"): swapping a client is a change in src/infra only. Types too:
    // src/infra/db.ts, src/infra/kafka.ts and src/infra/logger.ts re-export the few that others need.
    files: ['src/**/*.ts'],
    ignores: ['src/infra/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(pg|kafkajs|pino)(/.*)?$|^(pg|pino)-',
              message:
                'pg, kafkajs and pino are used in src/infra only: import its ports and types.',
            },
          ],
        },
      ],
    },
  },
  {
    // The domain is pure: no I/O, no frameworks, no ambient clock (STYLE.md "Time is an input").
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'The domain is pure: no Node.js built-ins.' },
            {
              group: [
                'pg',
                'pg-*',
                'kafkajs',
                'fastify',
                'fastify-*',
                '@fastify/*',
                'pino',
                'pino-*',
                'zod',
                'prom-client',
              ],
              message:
                'The domain is pure: I/O, frameworks and validation live outside src/domain.',
            },
            {
              group: ['../infra/*', '../http/*', '../projector/*', '../scheduler/*'],
              message: 'The domain depends on nothing outside it.',
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: 'Time is an input: take `now` as an argument.',
        },
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Time is an input: take `now` as an argument.',
        },
        {
          selector:
            "CallExpression[callee.object.name='DateTime'][callee.property.name=/^(now|local)$/]",
          message: 'Time is an input: take `now` as an argument.',
        },
        {
          selector: "CallExpression[callee.object.name='performance'][callee.property.name='now']",
          message: 'Time is an input.',
        },
      ],
    },
  },
  {
    // The wallboard's page script (board/): plain browser JavaScript, no type information.
    files: ['board/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { project: false, projectService: false, program: null },
      sourceType: 'script',
      globals: Object.fromEntries(
        [
          'AbortController',
          'TextDecoderStream',
          'URLSearchParams',
          'clearTimeout',
          'console',
          'document',
          'fetch',
          'history',
          'location',
          'navigator',
          'sessionStorage',
          'setInterval',
          'setTimeout',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
  prettier,
);
