package data

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/resnet-go/resnet/tensor"
)

var imageExt = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".bmp": true,
	".tif": true, ".tiff": true, ".webp": true}

// Folder is a dataset of image files, one sub-folder per class (Keras'
// image_dataset_from_directory layout). Images are decoded when read and
// resized to Height x Width.
type Folder struct {
	Height, Width int
	Grey          bool // one luma channel instead of RGB
	paths         []string
	labels        []int
	classes       []string
}

// ReadFolder lists root's class folders (sorted by name) and their images.
func ReadFolder(root string, height, width int, grey bool) (*Folder, error) {
	if height < 1 || width < 1 {
		return nil, fmt.Errorf("image folder %s: size %dx%d must be positive", root, height, width)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("image folder: %w", err)
	}
	f := &Folder{Height: height, Width: width, Grey: grey}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("image folder: %w", err)
		}
		var found []string
		for _, file := range files {
			if !file.IsDir() && imageExt[strings.ToLower(filepath.Ext(file.Name()))] {
				found = append(found, filepath.Join(root, e.Name(), file.Name()))
			}
		}
		if len(found) == 0 {
			continue
		}
		sort.Strings(found)
		for _, p := range found {
			f.paths = append(f.paths, p)
			f.labels = append(f.labels, len(f.classes))
		}
		f.classes = append(f.classes, e.Name())
	}
	if len(f.paths) == 0 {
		return nil, fmt.Errorf("image folder %s: no images in any sub-folder (want one folder per class holding .jpg, .png, ... files)", root)
	}
	return f, nil
}

// Len is the number of images.
func (f *Folder) Len() int { return len(f.paths) }

// Classes are the sub-folder names.
func (f *Folder) Classes() []string { return f.classes }

// Example decodes and resizes image i.
func (f *Folder) Example(i int) (*tensor.Tensor, int, error) {
	if i < 0 || i >= len(f.paths) {
		return nil, 0, fmt.Errorf("example %d out of range [0, %d)", i, len(f.paths))
	}
	img, err := LoadImage(f.paths[i])
	if err != nil {
		return nil, 0, err
	}
	if img, err = Resize(img, f.Height, f.Width); err != nil {
		return nil, 0, fmt.Errorf("image %s: %w", f.paths[i], err)
	}
	if f.Grey {
		g := tensor.New(f.Height, f.Width, 1)
		for j := range g.Data {
			g.Data[j] = 0.299*img.Data[3*j] + 0.587*img.Data[3*j+1] + 0.114*img.Data[3*j+2]
		}
		img = g
	}
	return img, f.labels[i], nil
}
