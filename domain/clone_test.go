package domain

import (
	"reflect"
	"testing"
)

// TestClonesShareNothingMutable fills every exported field of each
// aggregate (every slice, map and pointer non-empty, at every depth),
// clones it, and checks that the clone is equal and that no slice, map or
// pointer of the clone reaches memory of the original: a field added later
// and left out of Clone fails here.
func TestClonesShareNothingMutable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		orig  any
		clone func(any) any
	}{
		{"tenant", &Tenant{}, func(v any) any { return v.(*Tenant).Clone() }},
		{"partner", &Partner{}, func(v any) any { return v.(*Partner).Clone() }},
		{"partner access", &PartnerAccess{}, func(v any) any { return v.(*PartnerAccess).Clone() }},
		{"account", &Account{}, func(v any) any { return v.(*Account).Clone() }},
		{"product", &Product{}, func(v any) any { return v.(*Product).Clone() }},
		{"subscription", &Subscription{}, func(v any) any { return v.(*Subscription).Clone() }},
		{"usage", &SubscriptionUsage{}, func(v any) any { return v.(*SubscriptionUsage).Clone() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fill(reflect.ValueOf(tt.orig).Elem(), 0)
			c := tt.clone(tt.orig)
			if !reflect.DeepEqual(c, tt.orig) {
				t.Fatalf("clone %+v differs from %+v", c, tt.orig)
			}
			if path := shared(reflect.ValueOf(c).Elem(), reflect.ValueOf(tt.orig).Elem(), tt.name); path != "" {
				t.Fatalf("the clone shares %s with the original", path)
			}
		})
	}
}

// fill sets every settable exported field of v to something non-zero:
// one element in slices and maps, a value behind pointers.
func fill(v reflect.Value, depth int) {
	if depth > 6 || !v.CanSet() {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), depth+1)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(1)
	case reflect.Uint64, reflect.Uint, reflect.Uint32:
		v.SetUint(1)
	}
}

// shared returns the path of the first slice, map or pointer of a that
// points where b's does, or "".
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Struct:
		for i := range a.NumField() {
			if !a.Type().Field(i).IsExported() {
				continue
			}
			if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
				return p
			}
		}
	case reflect.Slice:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			return path
		}
		for i := range min(a.Len(), b.Len()) {
			if p := shared(a.Index(i), b.Index(i), path+"[i]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		if a.Len() > 0 && a.UnsafePointer() == b.UnsafePointer() {
			return path
		}
	case reflect.Pointer:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			return path
		}
		if !a.IsNil() && !b.IsNil() {
			return shared(a.Elem(), b.Elem(), path)
		}
	}
	return ""
}
