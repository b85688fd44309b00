import { defineConfig } from "vite";

// Served by the API process at /ui (apps/api/console.py); `npm run build` writes dist/.
export default defineConfig({
  base: "/ui/",
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2000 },
});
