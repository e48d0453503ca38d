package e2e
{
    /** "notes.Note" of examples/django_project (a DjangoClassDef on the server). */
    public class DjNote
    {
        public var id:Object;
        public var title:String;
        public var body:String;
        public var author_id:Object;
        public var updated:Object;
        public var author:DjUser;
    }
}
