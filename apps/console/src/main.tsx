import '@mantine/core/styles.css';
import './styles.css';
import { MantineProvider, createTheme } from '@mantine/core';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';

// Under the console's CSP (style-src 'self') no <style> element may be injected at runtime:
// Mantine's default variables come from its stylesheet, so the provider adds none of its own.
const theme = createTheme({ primaryColor: 'blue' });

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');

createRoot(root).render(
  <StrictMode>
    <MantineProvider theme={theme} withCssVariables={false} withGlobalClasses={false} forceColorScheme="light">
      <App />
    </MantineProvider>
  </StrictMode>,
);
